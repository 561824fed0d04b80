@iam
Feature: Creating an IAM user
  An IAM user and group for managing the notifier's resources, instead of the root account.
  Guide: First-time setup > Creating an IAM user

  Background:
    Given the deployment described by the profile

  Scenario: The administration group carries the guide's policies
    When the administration group is created with the guide's policies
    Then the administration group exists with exactly the guide's policies attached

  Scenario: The administration user can sign in to the console
    When the administration user is created in the group, with a console password
    Then the administration user exists, only in the group, with a console password

  Scenario: The administration user's permissions are its group's
    When the administration user is created in the group, with a console password
    Then the administration user holds no policies of its own, only its group's

  Scenario: The root account is used only to create the IAM user
    When the root account is kept for creating the IAM user only
    Then the root account has no access keys
