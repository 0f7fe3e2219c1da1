import sys

from services.hub.dashboards.build import main

sys.exit(main())
