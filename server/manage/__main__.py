import sys

from server.manage import main

sys.exit(main())
