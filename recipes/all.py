"""Every recipe at once: ``orthanc-runtime run recipes/all.py`` (``make demo`` builds on it).

    curl http://localhost:8042/runtime/status     # lists the routes of every recipe

Importing a recipe registers its handlers; each reads its settings from
``PythonRuntime.Recipes`` with their defaults (auto-routing sends nothing
until rules are configured).
"""

import recipes.autorouting  # noqa: F401
import recipes.cpu_demo  # noqa: F401
import recipes.pydicom_dump  # noqa: F401
import recipes.study_export  # noqa: F401
import recipes.thumbnails  # noqa: F401
import recipes.worklists  # noqa: F401
