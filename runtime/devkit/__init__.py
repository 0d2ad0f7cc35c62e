"""The script author's kit, never imported inside Orthanc: the CLI, the skeleton, the pytest plugin."""
