"""`course grade bench`: throughput of grading (see the README, "Grading a class")."""
