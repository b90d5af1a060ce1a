from convexlab.cli import main

raise SystemExit(main())
