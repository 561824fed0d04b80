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

  Scenario: The function runs the latest pushed image
    Then the function runs the image currently behind the tag
