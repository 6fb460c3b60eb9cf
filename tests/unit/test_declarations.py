"""Every job parameter is declared once (pipelines/job.py): the page's controls, the API's request schema, the
`app.py batch` flags and validation are all made from the same declaration, and each page range lies within the
valid bounds."""
import gradio as gr
import pytest

import cli
from api.schema import Img2ImgRequest, Txt2ImgRequest
from pipelines import Job, JobError, Options, declared
from ui.page import Page

PARAMS = declared(Job)
NUMERIC = [name for name, param in PARAMS.items() if param.is_number]


@pytest.fixture(scope="module")
def page_controls(services):
    blocks = Page(services).build()
    return {block.elem_id: block for block in blocks.blocks.values() if getattr(block, "elem_id", None)}


@pytest.fixture(scope="module")
def batch_flags():
    return {action.dest: action for action in cli.batch_parser()._actions}


def test_the_numeric_fields_are_the_ones_expected():
    assert set(NUMERIC) >= {"steps", "cfg_scale", "denoising_strength", "width", "height", "batch_size", "n_iter",
                            "resize_mode", "inpainting_fill", "mask_blur", "seed", "subseed_strength"}


@pytest.mark.parametrize("name", NUMERIC)
def test_page_control_comes_from_the_declaration(name, page_controls):
    param = PARAMS[name]
    control = page_controls.get(param.ui_name or name)
    if not param.page:
        assert control is None
        return
    low, high = param.bounds
    if param.ui is not None:
        assert isinstance(control, gr.Slider)
        assert (control.minimum, control.maximum, control.step) == param.ui
        assert control.value == param.ui_value and control.label == param.label
        assert (low is None or param.ui[0] >= low) and (high is None or param.ui[1] <= high), "page range too wide"
    elif param.choice_list():
        assert isinstance(control, gr.Radio)
        assert [label for label, _ in control.choices] == list(param.choice_list())
        assert control.value == param.choice_list()[int(param.ui_value)]
    else:
        assert isinstance(control, gr.Number) and control.value == param.ui_value


def test_clip_skip_at_the_top_of_the_page_comes_from_the_options_declaration(page_controls):
    param = declared(Options)["CLIP_stop_at_last_layers"]
    control = page_controls["clip_skip"]
    assert (control.minimum, control.maximum, control.step) == param.ui and control.label == param.label


@pytest.mark.parametrize("name", NUMERIC)
def test_api_schema_bounds_and_defaults_come_from_the_declaration(name):
    param = PARAMS[name]
    schema = (Img2ImgRequest if param.api == "img2img" else Txt2ImgRequest).model_json_schema()["properties"]
    if param.api is None:
        assert name not in schema
        return
    field = schema[name]
    choices = field.get("anyOf", [field])[0]  # an optional field's number is the first of its kinds
    low, high = param.bounds
    assert (choices.get("minimum"), choices.get("maximum")) == (low, high)
    assert field["default"] == (None if param.api_value is None else param.api_value)
    assert field["description"].startswith(param.label)


@pytest.mark.parametrize("name", NUMERIC)
def test_batch_flag_comes_from_the_declaration(name, batch_flags):
    param = PARAMS[name]
    flag = batch_flags.get(name)
    if not param.cli:
        assert flag is None
        return
    assert flag.option_strings == ["--" + name.replace("_", "-")]
    assert flag.default == param.default and flag.help.startswith(param.label)
    low, high = param.bounds
    parse = flag.type
    if high is not None:
        assert parse(str(high)) == high
        with pytest.raises(Exception, match=name):
            parse(str(high + 1))
    if low is not None:
        with pytest.raises(Exception, match=name):
            parse(str(low - 1))


@pytest.mark.parametrize("name", [n for n in NUMERIC if PARAMS[n].bounds[1] is not None])
def test_validation_comes_from_the_declaration(name):
    param = PARAMS[name]
    low, high = param.bounds
    Job(**{name: high}).validate()
    with pytest.raises(JobError, match=f"{name}.* is {high + 1}: it must be between {low} and {high}"):
        Job(**{name: high + 1}).validate()


def test_the_page_and_the_api_offer_one_batch_size_and_cfg_range(page_controls):
    """The copies used to disagree (CFG 0..100 against 1..30, batch size 1..64 against 1..8): now the page's range
    is the declared one and lies inside what validation accepts."""
    assert page_controls["batch_size"].maximum <= PARAMS["batch_size"].le
    assert page_controls["cfg_scale"].minimum >= PARAMS["cfg_scale"].ge
    Job(cfg_scale=page_controls["cfg_scale"].maximum, batch_size=int(page_controls["batch_size"].maximum)).validate()
