"""`videocomposer app`: a Gradio app to draw motion, extract conditions from a clip, inpaint, and generate.

`canvas` (the drawing canvas's value and its checks), `uploads` (uploaded files), `grid` (the condition grid with
strokes and a legend) and `session` (`ComposerApp`: conditions and generation) are plain Python; only `ui` and
`canvas_frontend` concern Gradio and the browser.
"""
