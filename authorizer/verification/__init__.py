"""The verification core: settings, key sets, the token's checks and the route rules."""
