"""The lab: a local stand-in for the AWS account (moto on loopback), MariaDB and OpenSSH."""
