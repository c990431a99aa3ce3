"""What the REST API and the console share of HTTP: sessions and role checks per request
(`auth`), request limits and security headers (`limits`), the login throttle (`throttle`),
document downloads (`downloads`). Below `veilleur.api` and `veilleur.web`, above the service."""
