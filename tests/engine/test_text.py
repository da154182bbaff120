from specvlm.engine.text import TextAssembler


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_deltas_add_up_to_the_decoded_text(tiny_pairs):
    tok = tiny_pairs["qwen2_5_vl"].tokenizer
    ids = _ids(tok, "the dog runs in the park. Wörld ünïcode 日本")
    text = TextAssembler(tok)
    out = "".join(text.add([i]) for i in ids) + text.flush()
    assert out == tok.decode(ids, skip_special_tokens=True)
    assert not text.stopped


def test_no_replacement_characters_leak_from_split_multibyte_chars(tiny_pairs):
    tok = tiny_pairs["qwen2_5_vl"].tokenizer
    ids = _ids(tok, "日本語")
    text = TextAssembler(tok)
    deltas = [text.add([i]) for i in ids]
    assert all("\ufffd" not in d for d in deltas)
    assert "".join(deltas) + text.flush() == "日本語"


def test_stop_string_across_tokens_is_cut_and_held_back(tiny_pairs):
    tok = tiny_pairs["qwen2_5_vl"].tokenizer
    ids = _ids(tok, "the dog runs in the park and jumps")
    text = TextAssembler(tok, stop=["in the"])
    out = ""
    for i in ids:
        out += text.add([i])
        assert "in the" not in out
        if text.stopped:
            break
    out += text.flush()
    assert text.stopped and out == "the dog runs "


def test_windowed_decoding_equals_the_full_decode_on_random_tokens(tiny_pairs):
    """Any token sequence (invalid UTF-8 and special tokens included), in any chunking."""
    import random

    for family in ("qwen2_5_vl", "llava_onevision"):
        tok = tiny_pairs[family].tokenizer
        rng = random.Random(0)
        for _ in range(30):
            ids = [rng.randrange(len(tok)) for _ in range(rng.randrange(1, 80))]
            text = TextAssembler(tok)
            out, i = "", 0
            while i < len(ids):
                step = rng.randrange(1, 7)
                out += text.add(ids[i:i + step])
                i += step
            out += text.flush()
            assert out == tok.decode(ids, skip_special_tokens=True)
