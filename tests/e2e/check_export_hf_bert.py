#!/usr/bin/env python3
"""Checks a Frost export (format huggingface-bert) with Hugging Face transformers.

Usage: check_export_hf_bert.py DIR

DIR is $FROST_EXPORT_DIR/bert or $FROST_EXPORT_DIR/roberta after
    FROST_EXPORT_DIR=... frost_unit_models_tests \
        --gtest_filter=WeightsExport.HuggingFaceBertNamesAndConfig:EncoderVariants.HuggingFaceExport*
It holds model.safetensors, model.json / config.json and check.safetensors (input_ids,
attention_mask, Frost's eval-mode logits). Loads DIR with
AutoModelForSequenceClassification.from_pretrained (BertForSequenceClassification or
RobertaForSequenceClassification, from config.json's architectures) and compares the logits.
Checked: BERT with transformers 4.36.2; RoBERTa with transformers 5.25.0 on torch 2.11. Not run by ctest:
transformers and safetensors are not Debian packages; use a venv on top of Debian's torch:
    /usr/bin/python3 -m venv --system-site-packages /tmp/hfvenv
    /tmp/hfvenv/bin/pip install transformers==4.36.2 safetensors
"""
import sys

import torch
import transformers
from safetensors.torch import load_file

directory = sys.argv[1]
model = transformers.AutoModelForSequenceClassification.from_pretrained(directory).eval()
check = load_file(f"{directory}/check.safetensors")
with torch.no_grad():
    logits = model(input_ids=check["input_ids"], attention_mask=check["attention_mask"]).logits
diff = (logits - check["logits"]).abs().max().item()
print(f"{directory}: {type(model).__name__}, transformers {transformers.__version__}: "
      f"max |logits - Frost| = {diff:.3g}")
sys.exit(0 if diff <= 1e-4 else 1)
