"""Operations: the metrics the authorizer emits and the SnapStart hooks."""
