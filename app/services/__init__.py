"""Business rules: pure domain functions and services shared by the API, the back office and the workers."""
