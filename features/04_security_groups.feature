@security_groups @smoke
Feature: Creating security groups
  Two groups: one that lets members reach the database, one that lets the Lambda
  reach the internet.
  Guide: Creating security groups

  Background:
    Given the deployment described by the profile

  Scenario: The database group admits MySQL from its members
    Then the database security group admits TCP 3306 from itself

  Scenario: The database group keeps its default outbound rule
    Then the database security group keeps all outbound traffic and sends TCP 3306 to itself

  Scenario: The internet group admits web traffic
    Then the internet security group admits TCP 80 and 443 from anywhere

  Scenario: The internet group sends only web traffic
    Then the internet security group sends only TCP 80 and 443 to anywhere
