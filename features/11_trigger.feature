@trigger @smoke
Feature: Adding the Lambda trigger
  An EventBridge schedule at the start of every hour.
  Guide: Adding the Lambda trigger

  Background:
    Given the deployment described by the profile

  Scenario: The rule fires at the start of every hour
    When the hourly rule is created with the runner as its target
    Then the rule fires on the profile's schedule and its state suits the phase

  Scenario: The rule starts the runner, and nothing else
    When the hourly rule is created with the runner as its target
    Then the rule targets only the runner: the state machine with a role that may start it, or the function with leave to invoke it

  Scenario: The rule's input names the real database instance
    When the hourly rule is created with the runner as its target
    Then the rule's constant input names the config, the auth file and the actual database

  Scenario: A missed hour is not retried
    When the hourly rule is created with the runner as its target
    Then the rule's target makes no retry attempts
