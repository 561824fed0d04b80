@redeployment
Feature: Redeployment
  What runs is what was built.
  Guide: Redeployment

  Background:
    Given the deployment described by the profile

  Scenario: The deployed .zip is the local build
    Then the deployed code is the local lambda.zip

  Scenario: The image is in the private repository
    Then the private ECR repository holds the image tag

  Scenario: The administrator may push the image
    Then the administration group's policies let its user push the image to the repository

  Scenario: The image is one manifest Lambda can run
    Then the tag points to one image manifest of a type Lambda runs, not an image index

  Scenario: The lifecycle policy keeps the running image
    Then the image the function runs is in the repository, and its lifecycle policy never expires it

  Scenario: The function runs the latest pushed image
    Then the function runs the image currently behind the tag
