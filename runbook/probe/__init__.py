"""The egress probe's own code, zipped at run time as a throw-away function's package."""
