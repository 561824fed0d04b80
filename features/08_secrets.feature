@secrets @smoke
Feature: Adding secrets to Secrets Manager
  One secret with the notifier's five credentials.
  Guide: Adding secrets to Secrets Manager

  Background:
    Given the deployment described by the profile

  Scenario: The notifier's secret holds its five values
    When the notifier's secret is stored
    Then the secret holds exactly the five keys, each a non-empty string

  Scenario: The secret points at the database
    When the notifier's secret is stored
    Then the secret's mysql_host is the database's private address

  Scenario: Only the account may read the secret
    When the notifier's secret is stored
    Then the secret's own resource policy admits no one beyond the account and denies the function nothing
