"""dreamfactory-infra components: DreamFactory CORS entries and CertbotHost."""
