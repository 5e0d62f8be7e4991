"""Assembly point of the brokerage system: settings, logging, local services, CLI, process supervisor."""
