"""The sign-out function: a Lambda of its own, shipped beside the authorizer's code."""
