"""harvestctl: the operator's one tool for a Harvest appliance."""
