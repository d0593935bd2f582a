"""The command-line apps: thin `@hydra.main` wrappers that compose a config and call one library function."""
