"""Everything that knows Unleash: admin client, desired state, reconciler, runtime reader."""
