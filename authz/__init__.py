"""The decision engine: Casbin model, privilege resolution, OIO-BPP and JSON codecs."""
