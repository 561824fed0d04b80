@redeployment
Feature: Redeployment
  What runs is what was built.
  Guide: Redeployment

  Background:
    Given the deployment described by the profile

  Scenario: The deployed .zip is the local build
    When the local lambda.zip is uploaded to the function
    Then the deployed code is the local lambda.zip

  Scenario: The image is in the private repository
    When the image is pushed to the private repository
    Then the private ECR repository holds the image tag

  Scenario: The administrator may push the image
    When the administration group is allowed to push images
    Then the administration group's policies let its user push the image to the repository

  Scenario: The image is one manifest Lambda can run
    When the image is pushed to the private repository
    Then the tag points to one image manifest of a type Lambda runs, not an image index

  Scenario: The lifecycle policy keeps the running image
    When the image is pushed to the private repository
    Then the image the function runs is in the repository, and its lifecycle policy never expires it

  Scenario: The function runs the latest pushed image
    When the function is updated to the image behind the tag
    Then the function runs the image currently behind the tag
