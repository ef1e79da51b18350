"""Tables kept in memory: DynamoDB tables read into the authorizer and kept current."""
