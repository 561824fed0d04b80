@database_ec2
Feature: Creating the database — EC2 variant
  MySQL on a small EC2 instance, started and stopped around each run.
  Guide: Creating the database > On an EC2

  Background:
    Given the deployment described by the profile

  Scenario: The database instance sits in the VPC
    Then the database instance runs in a subnet of the VPC, in the database security group

  Scenario: A t3 database bursts without limit
    Then a burstable database instance has unlimited CPU credits

  Scenario: The database is EBS-backed on gp3
    Then the database instance is EBS-backed with a gp3 root volume of the profile's size

  Scenario: The database runs Amazon Linux
    Then the database instance runs an Amazon Linux image

  Scenario: The temporary Elastic IP was released
    Then no Elastic IP is left associated with the database instance
