from runtime import (route, on_change, on_stored_instance, offload, Request, Response,
                     HTTPError, ChangeType, ResourceType, sdk, config)
