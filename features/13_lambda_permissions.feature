@lambda_permissions @smoke
Feature: Extra permissions for the Lambda
  The Lambda may read its secret and join the VPC.
  Guide: Extra permissions for the Lambda

  Background:
    Given the deployment described by the profile

  Scenario: The Lambda may read exactly its secret
    When the secret's read policy is created
    Then the secret policy grants GetSecretValue on exactly the secret's ARN

  Scenario: The Lambda's role carries the policies
    When the function's role is given the secret, VPC and logging policies
    Then the function's role holds the secret policy, VPC access and basic execution

  Scenario: The Lambda may do what the notifier does
    When the function's role is given the secret, VPC and logging policies
    Then the function's role may read the secret, manage its network interfaces, write its log and make the profile's required calls
