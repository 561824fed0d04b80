"""SSH and MySQL on the deployment's hosts: reached read-only, through the SSH config."""
