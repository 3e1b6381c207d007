"""Fault injection: kills, full disks, corrupt outputs, concurrent writers, hostile inputs."""
