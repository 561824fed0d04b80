@lambda_vpc @smoke
Feature: Add the Lambda to the VPC
  The Lambda joins the VPC's subnets and both groups.
  Guide: Add the Lambda to the VPC

  Background:
    Given the deployment described by the profile

  Scenario: The Lambda runs inside the VPC
    When the function is connected to the VPC
    Then the function runs in the VPC, in exactly the Lambda subnets and both security groups
