"""The prompt parser against A1111's documented behaviour (reference 3.16; the examples of A1111's `prompt_parser.py`
docstrings), and the 75-token chunks on CLIP's real tokenizer (made offline from the BPE file the project keeps)."""
import pytest

from pipelines import prompts
from pipelines.conditioning import Chunker
from pipelines.prompts import ExtraNetwork

W = 1.1
ALTERNATING = [(i, "a" if i % 2 else "(b:1.1)") for i in range(1, 11)]

EMPHASIS = [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", W), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", W)]),
    (r"\(literal\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", W)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.3 * W * W), (" ", W), ("on", 1.0), (" a ", W), ("hill", 0.55), (", sun, ", W),
      ("sky", W ** 4), (".", W)]),
    ("[word]", [("word", 1 / W)]),
    ("(word:1.3)", [("word", 1.3)]),
    ("((word))", [("word", W * W)]),
    ("[[word]]", [("word", 1 / W / W)]),
    ("(a [b] c)", [("a ", W), ("b", 1.0), (" c", W)]),
    ("(word:0)", [("word", 0.0)]),
    ("(word: 0.5 )", [("word", 0.5)]),
    ("a:b", [("a:b", 1.0)]),
    ("\\\\", [("\\", 1.0)]),
    ("", [("", 1.0)]),
    ("a BREAK b", [("a", 1.0), ("BREAK", -1), ("b", 1.0)]),
    ("BREAKfast", [("BREAKfast", 1.0)]),
    ("(cat:1.5) BREAK (dog)", [("cat", 1.5), ("", 1.0), ("BREAK", -1), ("", 1.0), ("dog", W)]),
    ("[unbalanced", [("unbalanced", 1 / W)]),
    ("unbalanced)", [("unbalanced)", 1.0)]),
]

SCHEDULES = [
    ("test", 10, [(10, "test")]),
    ("a [b:3]", 10, [(3, "a "), (10, "a b")]),
    ("a [b: 3]", 10, [(3, "a "), (10, "a b")]),
    ("a [[[b]]:2]", 10, [(2, "a "), (10, "a [[b]]")]),
    ("[(a:2):3]", 10, [(3, ""), (10, "(a:2)")]),
    ("a [b : c : 1] d", 10, [(1, "a b  d"), (10, "a  c  d")]),
    ("a[b:[c:d:2]:1]e", 10, [(1, "abe"), (2, "ace"), (10, "ade")]),
    ("a [unbalanced", 10, [(10, "a [unbalanced")]),
    ("a [b:.5] c", 10, [(5, "a  c"), (10, "a b c")]),
    ("((a][:b:c [d:3]", 10, [(3, "((a][:b:c "), (10, "((a][:b:c d")]),
    ("[a|(b:1.1)]", 10, ALTERNATING),
    ("[fe|]male", 10, [(i, "female" if i % 2 else "male") for i in range(1, 11)]),
    ("[fe|||]male", 10, [(i, "female" if i % 4 == 1 else "male") for i in range(1, 11)]),
    ("[dog:cat:0.5]", 10, [(5, "dog"), (10, "cat")]),
    ("[dog:cat:0.5]", 16, [(8, "dog"), (16, "cat")]),
    ("[dog::4]", 10, [(4, "dog"), (10, "")]),
    ("[dog:cat:25]", 10, [(10, "dog")]),
    ("[dog:cat:0]", 10, [(10, "cat")]),
    ("a | b", 10, [(10, "a | b")]),
    ("[a:b]", 10, [(10, "[a:b]")]),
    ("[a|b] [c:d:0.5]", 4, [(1, "a c"), (2, "b c"), (3, "a d"), (4, "b d")]),
    ("(a [b:c:2] d:1.2)", 4, [(2, "(a b d:1.2)"), (4, "(a c d:1.2)")]),
]

AND_PARTS = [
    ("a AND b", [("a", 1.0), (" b", 1.0)]),  # trailing spaces go with the optional weight
    ("a:1.2 AND b :0.5", [("a", 1.2), (" b", 0.5)]),
    ("ANDROID", [("ANDROID", 1.0)]),
    ("dog AND cat:-0.5", [("dog", 1.0), (" cat", -0.5)]),
]

COMMENTS = [
    ("a # comment\nb", "a \nb"),
    ("# whole line\nb", "\nb"),
    ("no comment", "no comment"),
]

EXTRA_NETWORKS = [
    ("cat <lora:x:0.8>", "cat ", [ExtraNetwork("lora", "x", 0.8, 0.8)]),
    ("<lora:x>", "", [ExtraNetwork("lora", "x", 1.0, 1.0)]),
    ("<lora:x:0.5:1.2>, dog", ", dog", [ExtraNetwork("lora", "x", 0.5, 1.2)]),
    ("<hypernet:h:0.3>", "", [ExtraNetwork("hypernet", "h", 0.3, 0.3)]),
]


@pytest.mark.parametrize("text,expected", EMPHASIS)
def test_emphasis(text, expected):
    got = prompts.parse_emphasis(text)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


@pytest.mark.parametrize("text,steps,expected", SCHEDULES)
def test_schedule(text, steps, expected):
    assert prompts.prompt_schedule(text, steps) == expected


@pytest.mark.parametrize("text,expected", AND_PARTS)
def test_and(text, expected):
    assert prompts.split_and(text) == expected


@pytest.mark.parametrize("text,expected", COMMENTS)
def test_comments(text, expected):
    assert prompts.strip_comments(text) == expected


@pytest.mark.parametrize("text,rest,networks", EXTRA_NETWORKS)
def test_extra_networks(text, rest, networks):
    assert prompts.extract_extra_networks(text) == (rest, networks)


def test_table_size():
    assert len(EMPHASIS) + len(SCHEDULES) + len(AND_PARTS) + len(COMMENTS) + len(EXTRA_NETWORKS) >= 40


@pytest.mark.parametrize("text", ["(a:1.2.3)", "[[[", ")))", "[a:b:c:d:1]", "[:]", "[|]", "((a:)", "\\", "[a:1e2]",
                                  "a ] [ b", "(a|b)", "[a:b|c:1]", "<lora:>", "AND", "BREAK", "[[a:b:0.5]|c]"])
def test_anything_parses(text):
    """A prompt the parser cannot make sense of is plain text, never an exception."""
    for part, _ in prompts.split_and(prompts.extract_extra_networks(text)[0]):
        for _, step_text in prompts.prompt_schedule(part, 20):
            assert prompts.parse_emphasis(step_text)


@pytest.mark.parametrize("style,prompt,expected", [
    ("{prompt}, masterpiece", "cat", "cat, masterpiece"),
    ("masterpiece", "cat", "cat, masterpiece"),
    ("masterpiece", "", "masterpiece"),
    ("", "cat", "cat"),
])
def test_merge_style(style, prompt, expected):
    assert prompts.merge_style(style, prompt) == expected


def test_style_database(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_text('name,prompt,negative_prompt\n"Cinematic","{prompt}, film grain","blurry"\nPlain,sharp,\n')
    styles = prompts.StyleDatabase(str(path))
    assert list(styles.styles()) == ["Cinematic", "Plain"]
    assert styles.apply("cat", "ugly", ["Cinematic", "Plain"]) == ("cat, film grain, sharp", "ugly, blurry")
    with pytest.raises(prompts.UnknownStyleError, match="'Nope'.*Cinematic, Plain"):
        styles.apply("cat", "", ["Nope"])
    path.write_text("name,prompt,negative_prompt\nNew,new,\n")  # edited while the server runs
    assert list(styles.styles()) == ["New"]
    assert prompts.StyleDatabase(str(tmp_path / "missing.csv")).styles() == {}


# ---------------------------------------------------------------------------------------------------------------------
# chunks, on CLIP's real vocabulary

@pytest.fixture(scope="module")
def clip_tokenizer():
    from transformers import CLIPTokenizer

    from pipelines.model_configs import config_folder
    return CLIPTokenizer.from_pretrained(str(config_folder("v1") / "tokenizer"))


START, END, A, CAT, DOG, COMMA = 49406, 49407, 320, 2368, 1929, 267


def test_real_vocabulary(clip_tokenizer):
    assert len(clip_tokenizer) == 49408
    assert clip_tokenizer("a cat, a dog")["input_ids"] == [START, A, CAT, COMMA, A, DOG, END]


def test_one_chunk(clip_tokenizer):
    chunks, count = Chunker(clip_tokenizer).chunks("a cat")
    assert count == 2 and len(chunks) == 1
    assert chunks[0].tokens == [START, A, CAT] + [END] * 74
    assert len(chunks[0].tokens) == len(chunks[0].multipliers) == 77


def test_75_tokens_fill_one_chunk_76_make_two(clip_tokenizer):
    chunker = Chunker(clip_tokenizer)
    assert chunker.token_count(" ".join(["cat"] * 75)) == (75, 75)
    chunks, count = chunker.chunks(" ".join(["cat"] * 76))
    assert (count, len(chunks)) == (76, 2)
    assert chunks[0].tokens == [START] + [CAT] * 75 + [END]
    assert chunks[1].tokens[:3] == [START, CAT, END]
    assert chunker.token_count(" ".join(["cat"] * 200)) == (200, 225)


def test_break_starts_a_chunk(clip_tokenizer):
    chunks, count = Chunker(clip_tokenizer).chunks("a cat BREAK a dog")
    assert len(chunks) == 2 and count == 77
    assert chunks[0].tokens[:4] == [START, A, CAT, END]
    assert chunks[1].tokens[:4] == [START, A, DOG, END]


def test_comma_backtrack(clip_tokenizer):
    """At the 75-token limit the words after the last comma (within 20 tokens) move to the next chunk together."""
    text = " ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10)
    chunks, _ = Chunker(clip_tokenizer).chunks(text)
    assert chunks[0].tokens[:73] == [START] + [CAT] * 70 + [COMMA, END]
    assert chunks[1].tokens[:12] == [START] + [DOG] * 10 + [END]
    chunks, _ = Chunker(clip_tokenizer, comma_backtrack=0).chunks(text)
    assert chunks[0].tokens[71:77] == [COMMA, DOG, DOG, DOG, DOG, END]


def test_multipliers(clip_tokenizer):
    chunks, _ = Chunker(clip_tokenizer).chunks("(cat:1.5) [dog]")
    assert chunks[0].multipliers[:4] == pytest.approx([1.0, 1.5, 1 / W, 1.0])
    chunks, _ = Chunker(clip_tokenizer, emphasis="None").chunks("(cat:1.5)")
    assert chunks[0].multipliers == [1.0] * 77
    assert len([t for t in chunks[0].tokens if t != END]) > 2  # the brackets are text


def test_embedding_in_chunk(clip_tokenizer):
    class FakeEmbedding:
        vectors = 3

    chunker = Chunker(clip_tokenizer, embeddings={"my-style": FakeEmbedding()})
    chunks, count = chunker.chunks("a my-style cat")
    assert chunks[0].fixes == [(1, "my-style")]
    assert chunks[0].tokens[:7] == [START, A, 0, 0, 0, CAT, END]
    assert count == 5
