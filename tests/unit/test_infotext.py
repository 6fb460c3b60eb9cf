"""Infotext: written as A1111 writes it, and A1111's own texts read back (reference section 5)."""
from pipelines.infotext import create_infotext, parse_generation_parameters

EXAMPLE_IMG2IMG = """a cozy cabin in a snowy forest at dusk, warm light in the windows, highly detailed
Negative prompt: blurry, lowres, watermark
Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.75, Version: v1.10.1"""  # noqa: E501 (A1111's infotext, one line as it writes it)

EXAMPLE_INPAINT = """a red leather armchair in a sunlit living room
Negative prompt: lowres, bad anatomy
Steps: 30, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.5, Seed: 3405691582, Size: 512x512, Model hash: c6bbc15e32, Model: sd-v1-5-inpainting, Denoising strength: 0.9, Conditional mask weight: 1.0, Mask blur: 4, Inpaint area: Only masked, Masked area padding: 32, Masked content: fill, Version: v1.10.1"""  # noqa: E501 (A1111's infotext, one line as it writes it)

EXAMPLE_SDXL = """portrait of a woman, (freckles:1.2), <lora:add_detail:0.6>
Negative prompt: (worst quality:1.4), lowres
Steps: 25, Sampler: DPM++ 2M SDE, Schedule type: Karras, CFG scale: 6.5, Seed: 2776458172, Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Variation seed: 1508394226, Variation seed strength: 0.15, Denoising strength: 0.45, Soft inpainting enabled: True, Soft inpainting schedule bias: 1, Soft inpainting preservation strength: 0.5, Soft inpainting transition contrast boost: 4, Soft inpainting mask influence: 0, Soft inpainting difference threshold: 0.5, Soft inpainting difference contrast: 2, Mask mode: Inpaint not masked, Mask blur: 16, Masked content: latent noise, Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.10.1"""  # noqa: E501 (A1111's infotext, one line as it writes it)


def test_plain_img2img_example():
    p = parse_generation_parameters(EXAMPLE_IMG2IMG)
    assert p["Prompt"] == "a cozy cabin in a snowy forest at dusk, warm light in the windows, highly detailed"
    assert p["Negative prompt"] == "blurry, lowres, watermark"
    assert (p["Steps"], p["Sampler"], p["Schedule type"], p["CFG scale"]) == ("20", "DPM++ 2M", "Karras", "7")
    assert (p["Seed"], p["Size-1"], p["Size-2"]) == ("1234567890", "512", "768")
    assert (p["Model hash"], p["Model"]) == ("6ce0161689", "v1-5-pruned-emaonly")
    assert p["Denoising strength"] == "0.75" and p["Version"] == "v1.10.1"
    # keys the file does not carry come back as A1111's defaults
    assert (p["Mask mode"], p["Masked content"], p["Inpaint area"], p["Masked area padding"]) == \
        ("Inpaint masked", "original", "Whole picture", 32)


def test_inpaint_example():
    p = parse_generation_parameters(EXAMPLE_INPAINT)
    assert p["Sampler"] == "Euler a" and p["Schedule type"] == "Automatic" and p["CFG scale"] == "7.5"
    assert p["Seed"] == "3405691582" and p["Model"] == "sd-v1-5-inpainting"
    assert p["Conditional mask weight"] == "1.0" and p["Mask blur"] == "4"
    assert p["Inpaint area"] == "Only masked" and p["Masked area padding"] == "32" and p["Masked content"] == "fill"


def test_sdxl_example_with_a_quoted_value():
    p = parse_generation_parameters(EXAMPLE_SDXL)
    assert p["Prompt"] == "portrait of a woman, (freckles:1.2), <lora:add_detail:0.6>"
    assert p["Negative prompt"] == "(worst quality:1.4), lowres"
    assert p["Size-1"] == "832" and p["Size-2"] == "1216"
    assert p["Variation seed"] == "1508394226" and p["Variation seed strength"] == "0.15"
    assert p["Lora hashes"] == "add_detail: 7c6bad76eb54"
    assert p["Mask mode"] == "Inpaint not masked" and p["Masked content"] == "latent noise"
    assert p["Soft inpainting enabled"] == "True" and p["Mask blur"] == "16"


def test_values_with_commas_colons_and_newlines_are_json_quoted():
    text = create_infotext("p", "", {"Steps": 20, "Sampler": "Euler", "Odd": "a, b: c", "Lines": "x\ny", "Seed": 1})
    assert text == 'p\nSteps: 20, Sampler: Euler, Odd: "a, b: c", Lines: "x\\ny", Seed: 1'
    p = parse_generation_parameters(text)
    assert p["Odd"] == "a, b: c" and p["Lines"] == "x\ny"


def test_none_values_are_left_out_and_a_key_equal_to_its_value_stands_alone():
    text = create_infotext("p", "n", {"Steps": 20, "Sampler": "Euler", "Variation seed": None, "Tiling": "Tiling",
                                      "Seed": 3})
    assert text == "p\nNegative prompt: n\nSteps: 20, Sampler: Euler, Tiling, Seed: 3"


def test_multi_line_prompts_round_trip():
    params = {"Steps": 16, "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": 7.5, "Seed": 42,
              "Size": "512x640", "Model hash": "abcdef0123", "Model": "m", "Denoising strength": 0.6,
              "Mask blur": 8, "Inpaint area": "Only masked", "Masked area padding": 48, "Masked content": "fill",
              "Version": "x"}
    text = create_infotext("line one\nline two, with a comma", "neg one\nneg two", params)
    p = parse_generation_parameters(text)
    assert p["Prompt"] == "line one\nline two, with a comma"
    assert p["Negative prompt"] == "neg one\nneg two"
    for key, value in params.items():
        if key == "Size":
            assert (p["Size-1"], p["Size-2"]) == ("512", "640")
        else:
            assert p[key] == str(value), key


def test_a_last_line_with_fewer_than_three_pairs_is_prompt_text():
    p = parse_generation_parameters("a photo\nstyle: noir, mood: dark")
    assert p["Prompt"] == "a photo\nstyle: noir, mood: dark"
    assert "style" not in p
