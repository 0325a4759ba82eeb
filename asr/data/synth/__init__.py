"""The built-in synthetic speech corpus: espeak-ng voices reading license-clean text (`asr data synth`)."""
