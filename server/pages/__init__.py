"""The few web pages behind the links Harvest sends: landing, password reset, email verification."""
