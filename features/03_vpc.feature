@vpc
Feature: Creating a VPC / Adding another subnet
  A VPC with a single public subnet, plus a second subnet in another availability zone.
  Guide: Creating a VPC; Adding another subnet

  Background:
    Given the deployment described by the profile

  Scenario: The VPC exists
    When the VPC is created with the profile's CIDR block
    Then the VPC exists with the profile's IPv4 CIDR and no IPv6 CIDR

  Scenario: The subnets exist inside the VPC
    When the subnets are created in two availability zones
    Then every subnet exists in the VPC with the profile's CIDR block

  Scenario: Another subnet in another availability zone
    When the subnets are created in two availability zones
    Then the Lambda subnets are in different availability zones

  Scenario: The VPC has an internet gateway
    When an internet gateway is attached and the public subnets route to it
    Then an internet gateway is attached to the VPC

  Scenario: The public subnets reach the internet gateway
    When an internet gateway is attached and the public subnets route to it
    Then every subnet that must be public routes 0.0.0.0/0 to the internet gateway
