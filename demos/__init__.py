"""Demonstrations that run the whole pipeline on this machine: a local emulator, the producer, Spark."""
