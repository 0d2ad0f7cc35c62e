"""orthanc-runtime: the scripting API (placeholder while the package is laid out)."""
