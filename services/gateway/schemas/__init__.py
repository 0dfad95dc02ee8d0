"""Wire models of the routes, one module per route group as in routes/: bodies validated and answers documented."""
