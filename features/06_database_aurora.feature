@database_aurora
Feature: Creating the database — Aurora Serverless variant
  The original setup: Aurora Serverless, scaling to zero between runs.
  Guide: Creating the database > On Aurora Serverless v1

  Background:
    Given the deployment described by the profile

  Scenario: The cluster scales to zero when idle
    When the Aurora serverless cluster is created
    Then the Aurora cluster is serverless MySQL with the profile's capacity and pauses when idle

  Scenario: The cluster is private to the VPC
    When the Aurora serverless cluster is created
    Then the Aurora cluster is private, only in the database security group, over the subnets

  Scenario: The cluster starts without a database
    When the Aurora serverless cluster is created
    Then the Aurora cluster was created without an initial database name
