"""kNN-VC (Baas, van Niekerk & Kamper, Interspeech 2023), rebuilt so the authors' published weights load.

Any-to-any voice conversion without training: every WavLM-Large layer-6 frame of the source speech is
replaced by the mean of its k nearest frames (cosine) in the target speaker's speech, and a HiFi-GAN
trained on such "prematched" features turns the result back into a 16 kHz waveform.
"""
