@security_groups @smoke
Feature: Creating security groups
  Two groups: one that lets members reach the database, one that lets the Lambda
  reach the internet.
  Guide: Creating security groups

  Background:
    Given the deployment described by the profile

  Scenario: The database group admits MySQL from its members, and nothing else
    When the database security group is created
    Then the database security group admits only MySQL, from itself and the access host's group

  Scenario: The database group keeps its default outbound rule
    When the database security group is created
    Then the database security group keeps all outbound traffic and sends TCP 3306 to itself

  Scenario: The internet group admits web traffic, and nothing else
    When the internet security group is created
    Then the internet security group admits nothing but TCP 80 and 443 from anywhere

  Scenario: The internet group sends only web traffic
    When the internet security group is created
    Then the internet security group sends only TCP 80 and 443 to anywhere

  Scenario: Neither the database nor the Lambda is open to the internet
    When the security groups are kept closed to the internet
    Then no security group of the database or the Lambda admits the internet, but the internet group's web rules
