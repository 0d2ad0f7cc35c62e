"""A module that fails at import with something else than an ImportError (for test_pool)."""

raise RuntimeError("this module refuses to be imported")
