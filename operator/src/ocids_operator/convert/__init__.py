"""Converters from other tools' job definitions to TrainingJob / TrainingJobRun manifests."""
