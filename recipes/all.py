"""Every recipe at once: ``orthanc-runtime run recipes/all.py`` (``make demo`` builds on it).

    curl http://localhost:8042/runtime/status     # lists the routes of every recipe

Importing a recipe registers its handlers; each reads its settings from
``PythonRuntime.Recipes`` with their defaults (auto-routing sends nothing
until rules are configured).
"""

import recipes.autorouting
import recipes.cpu_demo
import recipes.pydicom_dump
import recipes.study_export
import recipes.thumbnails  # noqa: F401

RECIPES = (recipes.autorouting, recipes.cpu_demo, recipes.pydicom_dump, recipes.study_export,
           recipes.thumbnails)
