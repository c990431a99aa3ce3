"""The application's use cases, each rule once, for the REST API (`veilleur.api`) and the
console (`veilleur.web`) alike: cameras and processing (`cameras`, `platform`, `scope`),
signals and reviews (`signals`), authorisations and the gate (`authorisations`, `gate`),
users and scopes (`users`, `access`), retention, documents, statistics (`modes`). Functions
take typed arguments and a database session, and raise `errors.ServiceError`s that the API
turns into status codes and the console into messages."""
