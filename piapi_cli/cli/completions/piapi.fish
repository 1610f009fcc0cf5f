# fish completion for piapi, generated from its command tree: do not edit.
# Install: copy this file to ~/.config/fish/completions/piapi.fish

function __piapi_model
    set -l words (commandline -opc)
    set -l next 0
    for w in $words
        if test $next = 1
            echo $w
            return
        end
        if contains -- $w --model -m
            set next 1
        end
    end
end

function __piapi_task_types
    switch (__piapi_model)
        case 'Qubico/flux1-schnell'
            printf '%s\n' txt2img img2img
        case 'Qubico/flux1-dev'
            printf '%s\n' txt2img img2img
        case 'Qubico/flux1-dev-advanced'
            printf '%s\n' txt2img img2img txt2img-lora img2img-lora controlnet-lora fill-inpaint fill-outpaint redux-variation kontext
        case 'midjourney'
            printf '%s\n' imagine upscale variation describe reroll seed blend inpaint outpaint pan
        case 'Qubico/image-toolkit'
            printf '%s\n' background-remove upscale segment face-swap multi-face-swap
        case 'gemini'
            printf '%s\n' gemini-2.5-flash-image nano-banana-pro nano-banana-2
        case 'Qubico/qwen-image'
            printf '%s\n' txt2img image-edit
        case 'Qubico/z-image'
            printf '%s\n' txt2img
        case 'seedream'
            printf '%s\n' seedream-5-lite seedream-5-pro seedream-5-lite-less-restriction seedream-5-pro-less-restriction
        case 'Qubico/joycaption'
            printf '%s\n' joycaption-beta-one
        case 'kling'
            printf '%s\n' video_generation extend_video lip_sync effects omni_video_generation ai_try_on sound avatar motion_control
        case 'kling-turbo'
            printf '%s\n' video_generation
        case 'hailuo'
            printf '%s\n' video_generation
        case 'luma'
            printf '%s\n' video_generation extend_video
        case 'veo3'
            printf '%s\n' veo3-video veo3-video-fast
        case 'veo3.1'
            printf '%s\n' veo3.1-video veo3.1-video-fast
        case 'sora2'
            printf '%s\n' sora2-video sora2-pro-video remove-watermark
        case 'seedance'
            printf '%s\n' seedance-2 seedance-2-preview seedance-2-fast seedance-2-mini seedance-2-less-restriction seedance-2-fast-less-restriction seedance-2-mini-less-restriction seedance-2.5 seedance-2.5-less-restriction remove-watermark
        case 'Qubico/hunyuan'
            printf '%s\n' txt2video fast-txt2video img2video-concat img2video-replace txt2video-lora img2video-lora
        case 'Qubico/wanx'
            printf '%s\n' txt2video-1.3b txt2video-14b img2video-14b txt2video-14b-lora img2video-14b-lora img2video-14b-keyframe img2video-14b-control-camera wan22-txt2video-14b wan22-img2video-14b
        case 'Qubico/skyreels'
            printf '%s\n' img2video
        case 'Qubico/video-toolkit'
            printf '%s\n' face-swap upscale background-remove
        case 'Wan'
            printf '%s\n' wan26-txt2video wan26-img2video
        case 'Qubico/framepack'
            printf '%s\n' img2video
        case 'omni-human'
            printf '%s\n' omni-human-1.5
        case 'Qubico/hug-video'
            printf '%s\n' image_to_video
        case 'music-u'
            printf '%s\n' generate_music generate_lyrics
        case 'Qubico/ace-step'
            printf '%s\n' txt2audio audio2audio edit extend
        case 'Qubico/diffrhythm'
            printf '%s\n' txt2audio-base txt2audio-full
        case 'Qubico/mmaudio'
            printf '%s\n' video2audio
        case 'Qubico/tts'
            printf '%s\n' zero-shot
        case 'suno'
            printf '%s\n' generate_music
        case 'music-s'
            printf '%s\n' generate_music
        case 'byteaudio'
            printf '%s\n' seed-audio-1.0
        case 'Qubico/trellis'
            printf '%s\n' image-to-3d text-to-3d
        case 'Qubico/trellis2'
            printf '%s\n' image-to-3d
        case 'Qubico/pixal3d'
            printf '%s\n' image-to-3d
        case '*'
            printf '%s\n' ai_try_on audio2audio avatar background-remove blend controlnet-lora describe edit effects extend extend_video face-swap fast-txt2video fill-inpaint fill-outpaint gemini-2.5-flash-image generate_lyrics generate_music image-edit image-to-3d image_to_video imagine img2img img2img-lora img2video img2video-14b img2video-14b-control-camera img2video-14b-keyframe img2video-14b-lora img2video-concat img2video-lora img2video-replace inpaint joycaption-beta-one kontext lip_sync motion_control multi-face-swap nano-banana-2 nano-banana-pro omni-human-1.5 omni_video_generation outpaint pan redux-variation remove-watermark reroll seed seed-audio-1.0 seedance-2 seedance-2-fast seedance-2-fast-less-restriction seedance-2-less-restriction seedance-2-mini seedance-2-mini-less-restriction seedance-2-preview seedance-2.5 seedance-2.5-less-restriction seedream-5-lite seedream-5-lite-less-restriction seedream-5-pro seedream-5-pro-less-restriction segment sora2-pro-video sora2-video sound text-to-3d txt2audio txt2audio-base txt2audio-full txt2img txt2img-lora txt2video txt2video-1.3b txt2video-14b txt2video-14b-lora txt2video-lora upscale variation veo3-video veo3-video-fast veo3.1-video veo3.1-video-fast video2audio video_generation wan22-img2video-14b wan22-txt2video-14b wan26-img2video wan26-txt2video zero-shot
    end
end

complete -c piapi -f
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a create -d 'Create a task.'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a get -d 'Show tasks: status, timing, cost, output URLs, the error of a failed one.'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a wait -d 'Wait for tasks to finish (concurrently), then show them.'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a cancel -d 'Cancel pending tasks (PiAPI refuses once a task is processing).'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a download -d 'Download every output file of completed tasks.'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a report -d 'Write an offline report of journaled tasks: their outputs in a grid, with prompt, cost and'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a account -d 'Show your plan, credits and balance, and the tasks running now per provider; the key in th'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a models -d 'List models and task types; with MODEL, each task types input schema.'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a listen -d 'Receive PiAPIs webhook deliveries: print each event, forward it, run a command, download.'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a trigger -d 'Send realistic webhook deliveries to URL, to test a receiver without spending credits.'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a completion -d 'Print the completion script for a shell (commands, options, models, task types).'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a batch -d 'Many tasks from a JSONL or CSV file: resumable after any crash, never paid twice, split ac'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a tasks -d 'The local journal of tasks created through piapi (status, outputs, cost, downloads).'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a config -d 'Set the API key and settings (config.toml, one table per profile).'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -a sandbox -d 'The built-in, offline emulator of PiAPIs Unified API.'
complete -c piapi -n '__fish_seen_subcommand_from batch; and not __fish_seen_subcommand_from run status list' -a run -d 'Run a task for every row of FILE, N requests in flight; resume by running it again.'
complete -c piapi -n '__fish_seen_subcommand_from batch; and not __fish_seen_subcommand_from run status list' -a status -d 'Show a run: counts by state, credits, and the rows that need attention.'
complete -c piapi -n '__fish_seen_subcommand_from batch; and not __fish_seen_subcommand_from run status list' -a list -d 'List batch runs with their progress, newest first.'
complete -c piapi -n '__fish_seen_subcommand_from tasks; and not __fish_seen_subcommand_from sync show usage' -a sync -d 'Bring in the accounts tasks the journal lacks (made on the dashboard, elsewhere, or before'
complete -c piapi -n '__fish_seen_subcommand_from tasks; and not __fish_seen_subcommand_from sync show usage' -a show -d 'Show one journaled task: input, status, outputs, cost and downloaded files.'
complete -c piapi -n '__fish_seen_subcommand_from tasks; and not __fish_seen_subcommand_from sync show usage' -a usage -d 'Credits consumed by the journaled tasks (completed ones), in total or grouped.'
complete -c piapi -n '__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from set-key show path set unset' -a set-key -d 'Store your PiAPI key: asked for hidden on a terminal, read from stdin when piped.'
complete -c piapi -n '__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from set-key show path set unset' -a show -d 'Show every setting, its value (the key masked) and where it comes from.'
complete -c piapi -n '__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from set-key show path set unset' -a path -d 'Print the config files path.'
complete -c piapi -n '__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from set-key show path set unset' -a set -d 'Store a setting in the current profile (see: piapi config --help).'
complete -c piapi -n '__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from set-key show path set unset' -a unset -d 'Remove a setting from the current profile (it falls back to the environment or default).'
complete -c piapi -n '__fish_seen_subcommand_from sandbox; and not __fish_seen_subcommand_from serve' -a serve -d 'Serve the Unified API on this machine: create, get, cancel, account, upload, output files.'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -l profile -x -d 'Config profile to use [env: PIAPI_PROFILE]'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -l base-url -x -d 'API address [env: PIAPI_BASE_URL]'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -l sandbox -d 'Use the built-in offline emulator: no key, no network [env: PIAPI_SANDBOX]'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -l no-color -d 'No colour (also: NO_COLOR)'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -l no-journal -d 'Do not record created tasks in the local journal [env: PIAPI_JOURNAL=0]'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -l debug -d 'Show tracebacks and HTTP traffic on stderr'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -l version -d 'Print the version and exit'
complete -c piapi -n 'not __fish_seen_subcommand_from create get wait cancel download report account models listen trigger completion batch tasks config sandbox' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from create' -l model -s m -x -a 'Qubico/flux1-schnell Qubico/flux1-dev Qubico/flux1-dev-advanced midjourney Qubico/image-toolkit gemini Qubico/qwen-image Qubico/z-image seedream Qubico/joycaption kling kling-turbo hailuo luma veo3 veo3.1 sora2 seedance Qubico/hunyuan Qubico/wanx Qubico/skyreels Qubico/video-toolkit Wan Qubico/framepack omni-human Qubico/hug-video music-u Qubico/ace-step Qubico/diffrhythm Qubico/mmaudio Qubico/tts suno music-s byteaudio Qubico/trellis Qubico/trellis2 Qubico/pixal3d' -d 'Model, e.g. Qubico/flux1-dev (see: piapi models)'
complete -c piapi -n '__fish_seen_subcommand_from create' -l task-type -s t -x -a '(__piapi_task_types)' -d 'Task type of the model, e.g. txt2img'
complete -c piapi -n '__fish_seen_subcommand_from create' -l from -x -d 'Start from a past task (the journals, else the APIs): its model, type and input; -i change'
complete -c piapi -n '__fish_seen_subcommand_from create' -l input -s i -x -d 'An input field; repeat it. KEY:=JSON for raw JSON'
complete -c piapi -n '__fish_seen_subcommand_from create' -l input-file -r -F -d 'A JSON object of inputs; - reads stdin. -i overrides its keys'
complete -c piapi -n '__fish_seen_subcommand_from create' -l webhook -x -d 'PiAPI POSTs task updates to this URL'
complete -c piapi -n '__fish_seen_subcommand_from create' -l webhook-secret -x -d 'Sent back in the x-webhook-secret header of each delivery; made up when not given [env: PI'
complete -c piapi -n '__fish_seen_subcommand_from create' -l service-mode -x -d 'public: pay as you go; private: host-your-account'
complete -c piapi -n '__fish_seen_subcommand_from create' -l wait -s w -d 'Wait for the task to finish and show its result'
complete -c piapi -n '__fish_seen_subcommand_from create' -l timeout -x -d 'Give up waiting after this long (exit 8; the task goes on). 0: no deadline. [default: 1800'
complete -c piapi -n '__fish_seen_subcommand_from create' -l interval -x -d 'Longest pause between two polls; polls start at 1s and grow to it. [default: 10]'
complete -c piapi -n '__fish_seen_subcommand_from create' -l json -d 'Print the task as JSON: the APIs task object, an array for several (after downloads, each '
complete -c piapi -n '__fish_seen_subcommand_from create' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from create' -l quiet -s q -d 'No progress display or notes on stderr'
complete -c piapi -n '__fish_seen_subcommand_from create' -l dry-run -d 'Print the request body that would be sent (secrets redacted); send nothing'
complete -c piapi -n '__fish_seen_subcommand_from create' -l no-validate -d 'Skip the catalogs input checks'
complete -c piapi -n '__fish_seen_subcommand_from create' -l inline -d 'Send -i key=@FILE as a data: URI instead of uploading it'
complete -c piapi -n '__fish_seen_subcommand_from create' -l download -x -d 'Save the outputs into DIR when done (implies --wait)'
complete -c piapi -n '__fish_seen_subcommand_from create' -l name -x -d 'File name template (fields below)'
complete -c piapi -n '__fish_seen_subcommand_from create' -l overwrite -d 'Replace files that already exist'
complete -c piapi -n '__fish_seen_subcommand_from create' -l skip-existing -d 'Leave files that already exist, without error'
complete -c piapi -n '__fish_seen_subcommand_from create' -l metadata -d 'Write NAME.json beside each file: task, model, input, source URL'
complete -c piapi -n '__fish_seen_subcommand_from create' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from get' -l json -d 'Print the APIs task object as JSON (an array for several IDs)'
complete -c piapi -n '__fish_seen_subcommand_from get' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from get' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l pending -d 'Wait for every journaled task that has not finished (after a crash)'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l timeout -x -d 'Give up waiting after this long (exit 8; the task goes on). 0: no deadline. [default: 1800'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l interval -x -d 'Longest pause between two polls; polls start at 1s and grow to it. [default: 10]'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l download -x -d 'Save the outputs into DIR when done (implies --wait)'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l name -x -d 'File name template (fields below)'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l overwrite -d 'Replace files that already exist'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l skip-existing -d 'Leave files that already exist, without error'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l metadata -d 'Write NAME.json beside each file: task, model, input, source URL'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l json -d 'Print the task as JSON: the APIs task object, an array for several (after downloads, each '
complete -c piapi -n '__fish_seen_subcommand_from wait' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l quiet -s q -d 'No progress display or notes on stderr'
complete -c piapi -n '__fish_seen_subcommand_from wait' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from cancel' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from download' -l dir -s d -x -d 'Where to save the files'
complete -c piapi -n '__fish_seen_subcommand_from download' -l name -x -d 'File name template (fields below)'
complete -c piapi -n '__fish_seen_subcommand_from download' -l overwrite -d 'Replace files that already exist'
complete -c piapi -n '__fish_seen_subcommand_from download' -l skip-existing -d 'Leave files that already exist, without error'
complete -c piapi -n '__fish_seen_subcommand_from download' -l metadata -d 'Write NAME.json beside each file: task, model, input, source URL'
complete -c piapi -n '__fish_seen_subcommand_from download' -l json -d 'Print the task as JSON: the APIs task object, an array for several (after downloads, each '
complete -c piapi -n '__fish_seen_subcommand_from download' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from download' -l quiet -s q -d 'No progress display or notes on stderr'
complete -c piapi -n '__fish_seen_subcommand_from download' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from report' -l batch -x -d 'The tasks of this batch run (piapi batch list)'
complete -c piapi -n '__fish_seen_subcommand_from report' -l since -x -d 'Tasks created this recently: 30m, 12h, 7d, 2w'
complete -c piapi -n '__fish_seen_subcommand_from report' -l model -s m -x -a 'Qubico/flux1-schnell Qubico/flux1-dev Qubico/flux1-dev-advanced midjourney Qubico/image-toolkit gemini Qubico/qwen-image Qubico/z-image seedream Qubico/joycaption kling kling-turbo hailuo luma veo3 veo3.1 sora2 seedance Qubico/hunyuan Qubico/wanx Qubico/skyreels Qubico/video-toolkit Wan Qubico/framepack omni-human Qubico/hug-video music-u Qubico/ace-step Qubico/diffrhythm Qubico/mmaudio Qubico/tts suno music-s byteaudio Qubico/trellis Qubico/trellis2 Qubico/pixal3d' -d 'Only this models tasks'
complete -c piapi -n '__fish_seen_subcommand_from report' -l status -s s -x -d 'Only tasks with this status'
complete -c piapi -n '__fish_seen_subcommand_from report' -l compare-by -x -d 'Add a table with FIELDs values as columns (model, task_type or an input such as seed)'
complete -c piapi -n '__fish_seen_subcommand_from report' -l out -s o -x -d 'Where to write the page [default: piapi-report/]'
complete -c piapi -n '__fish_seen_subcommand_from report' -l open -d 'Open the page in the desktops browser'
complete -c piapi -n '__fish_seen_subcommand_from report' -l no-thumbnails -d 'Show the full-size images instead of making thumbnails'
complete -c piapi -n '__fish_seen_subcommand_from report' -l json -d 'Print the reports data (summary, tasks, outputs) as JSON; the page only with --out'
complete -c piapi -n '__fish_seen_subcommand_from report' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from report' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from account' -l json -d 'Print the account info as JSON, as the API returns it (the key redacted)'
complete -c piapi -n '__fish_seen_subcommand_from account' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from account' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from models' -l task-type -s t -x -a '(__piapi_task_types)' -d 'Only this task type'
complete -c piapi -n '__fish_seen_subcommand_from models' -l category -s c -x -d 'Only this category'
complete -c piapi -n '__fish_seen_subcommand_from models' -l json -d 'Print the catalog as JSON: an array of models, each with its task types and their input sc'
complete -c piapi -n '__fish_seen_subcommand_from models' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l port -s p -x -d 'Port; 0 picks a free one'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l host -x -d 'Address to listen on'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l path -x -d 'URL path deliveries are POSTed to'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l secret -x -d 'The x-webhook-secret deliveries must carry [env: PIAPI_WEBHOOK_SECRET] (default: the liste'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l secret-file -x -d 'Read the secret from this file'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l forward-to -s f -x -d 'POST each delivery, as received, to URL; EVENT=URL for one event only. Repeatable'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l exec -x -d 'Run CMD for each event (no shell; event JSON on stdin)'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l download -x -d 'Save the outputs of completed tasks into DIR'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l events -x -d 'Only these events, e.g. completed,failed (default: all)'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l public-url -x -d 'The address PiAPI reaches this listener at (a tunnels URL)'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l backstop -x -d 'Fetch tasks sent to this listener that have been silent this long (0: never)'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l print-secret -d 'Print the secret and exit'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l replay -x -d 'Forward a stored event again (or every one not forwarded), then exit'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l quiet -s q -d 'No progress display or notes on stderr'
complete -c piapi -n '__fish_seen_subcommand_from listen' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from trigger' -l status -s s -x -d 'pending, staged, processing, completed, failed or cancelled; a list sends each in turn'
complete -c piapi -n '__fish_seen_subcommand_from trigger' -l model -s m -x -a 'Qubico/flux1-schnell Qubico/flux1-dev Qubico/flux1-dev-advanced midjourney Qubico/image-toolkit gemini Qubico/qwen-image Qubico/z-image seedream Qubico/joycaption kling kling-turbo hailuo luma veo3 veo3.1 sora2 seedance Qubico/hunyuan Qubico/wanx Qubico/skyreels Qubico/video-toolkit Wan Qubico/framepack omni-human Qubico/hug-video music-u Qubico/ace-step Qubico/diffrhythm Qubico/mmaudio Qubico/tts suno music-s byteaudio Qubico/trellis Qubico/trellis2 Qubico/pixal3d' -d 'Model of the task'
complete -c piapi -n '__fish_seen_subcommand_from trigger' -l task-type -s t -x -a '(__piapi_task_types)' -d 'Task type (default: the models first)'
complete -c piapi -n '__fish_seen_subcommand_from trigger' -l secret -x -d 'Sent in x-webhook-secret [env: PIAPI_WEBHOOK_SECRET] (default: the listeners own)'
complete -c piapi -n '__fish_seen_subcommand_from trigger' -l secret-file -x -d 'Read the secret from this file'
complete -c piapi -n '__fish_seen_subcommand_from trigger' -l from-task -x -d 'Send this task as it is (journal, else the API)'
complete -c piapi -n '__fish_seen_subcommand_from trigger' -l dry-run -d 'Print the delivery bodies (secret redacted); send nothing'
complete -c piapi -n '__fish_seen_subcommand_from trigger' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from completion' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from batch' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from run' -l model -s m -x -a 'Qubico/flux1-schnell Qubico/flux1-dev Qubico/flux1-dev-advanced midjourney Qubico/image-toolkit gemini Qubico/qwen-image Qubico/z-image seedream Qubico/joycaption kling kling-turbo hailuo luma veo3 veo3.1 sora2 seedance Qubico/hunyuan Qubico/wanx Qubico/skyreels Qubico/video-toolkit Wan Qubico/framepack omni-human Qubico/hug-video music-u Qubico/ace-step Qubico/diffrhythm Qubico/mmaudio Qubico/tts suno music-s byteaudio Qubico/trellis Qubico/trellis2 Qubico/pixal3d' -d 'Model of rows that name none'
complete -c piapi -n '__fish_seen_subcommand_from run' -l task-type -s t -x -a '(__piapi_task_types)' -d 'Task type of rows that name none'
complete -c piapi -n '__fish_seen_subcommand_from run' -l input -s i -x -d 'An input field of every row; a rows own wins'
complete -c piapi -n '__fish_seen_subcommand_from run' -l template -x -d 'Build the prompt from the rows fields: a {animal} in {style}'
complete -c piapi -n '__fish_seen_subcommand_from run' -l matrix -x -d 'Run every row once per value (repeat: every combination)'
complete -c piapi -n '__fish_seen_subcommand_from run' -l template-field -x -d 'The input field --template sets'
complete -c piapi -n '__fish_seen_subcommand_from run' -l webhook -x -d 'PiAPI POSTs each tasks updates here'
complete -c piapi -n '__fish_seen_subcommand_from run' -l webhook-secret -x -d 'Secret of --webhook [env: PIAPI_WEBHOOK_SECRET]'
complete -c piapi -n '__fish_seen_subcommand_from run' -l concurrency -s c -x -d 'API requests in flight'
complete -c piapi -n '__fish_seen_subcommand_from run' -l max-credits -x -d 'Start no row once this runs credits would pass N'
complete -c piapi -n '__fish_seen_subcommand_from run' -l shard -x -d 'Run only shard K of N (a stable split by id)'
complete -c piapi -n '__fish_seen_subcommand_from run' -l run-id -x -d 'Name of the run (default: from the files path)'
complete -c piapi -n '__fish_seen_subcommand_from run' -l output -s o -x -d 'Write the result lines here, not stdout'
complete -c piapi -n '__fish_seen_subcommand_from run' -l download -x -d 'Save each rows outputs into DIR'
complete -c piapi -n '__fish_seen_subcommand_from run' -l name -x -d 'File names: {id}, the rows fields, {index}, {ext}...'
complete -c piapi -n '__fish_seen_subcommand_from run' -l overwrite -d 'Replace files that already exist'
complete -c piapi -n '__fish_seen_subcommand_from run' -l skip-existing -d 'Leave files that already exist, without error'
complete -c piapi -n '__fish_seen_subcommand_from run' -l metadata -d 'Write NAME.json beside each file: task, model, input, source URL'
complete -c piapi -n '__fish_seen_subcommand_from run' -l retry-failed -d 'Create new tasks for rows whose task failed (paid again)'
complete -c piapi -n '__fish_seen_subcommand_from run' -l resubmit-unknown -d 'Send again rows whose create may have been carried out'
complete -c piapi -n '__fish_seen_subcommand_from run' -l force -d 'Create again rows that changed since their task was created'
complete -c piapi -n '__fish_seen_subcommand_from run' -l attach -x -d 'The task a maybe-created row turned out to have'
complete -c piapi -n '__fish_seen_subcommand_from run' -l timeout -x -d 'Stop waiting after this long (exit 8). [default: none]'
complete -c piapi -n '__fish_seen_subcommand_from run' -l interval -x -d 'Longest pause between two polls; polls start at 1s and grow to it. [default: 10]'
complete -c piapi -n '__fish_seen_subcommand_from run' -l no-validate -d 'Send unknown models and fields anyway'
complete -c piapi -n '__fish_seen_subcommand_from run' -l inline -d 'Send KEY=@FILE inputs as data: URIs'
complete -c piapi -n '__fish_seen_subcommand_from run' -l dry-run -d 'Print the plan (rows by model, what resumes, known cost); send nothing'
complete -c piapi -n '__fish_seen_subcommand_from run' -l json -d 'With --dry-run: the plan as JSON'
complete -c piapi -n '__fish_seen_subcommand_from run' -l quiet -s q -d 'No progress display or notes on stderr'
complete -c piapi -n '__fish_seen_subcommand_from run' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from status' -l json -d 'The runs status as one JSON object'
complete -c piapi -n '__fish_seen_subcommand_from status' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from status' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from list' -l all -d 'Runs of every API (sandbox and real), not just this one'
complete -c piapi -n '__fish_seen_subcommand_from list' -l json -d 'The runs as a JSON array'
complete -c piapi -n '__fish_seen_subcommand_from list' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from list' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from tasks' -l status -s s -x -d 'Only tasks with this status'
complete -c piapi -n '__fish_seen_subcommand_from tasks' -l model -s m -x -a 'Qubico/flux1-schnell Qubico/flux1-dev Qubico/flux1-dev-advanced midjourney Qubico/image-toolkit gemini Qubico/qwen-image Qubico/z-image seedream Qubico/joycaption kling kling-turbo hailuo luma veo3 veo3.1 sora2 seedance Qubico/hunyuan Qubico/wanx Qubico/skyreels Qubico/video-toolkit Wan Qubico/framepack omni-human Qubico/hug-video music-u Qubico/ace-step Qubico/diffrhythm Qubico/mmaudio Qubico/tts suno music-s byteaudio Qubico/trellis Qubico/trellis2 Qubico/pixal3d' -d 'Only tasks of this model'
complete -c piapi -n '__fish_seen_subcommand_from tasks' -l since -x -d 'Only tasks created this recently: 30m, 12h, 7d, 2w'
complete -c piapi -n '__fish_seen_subcommand_from tasks' -l world -x -d 'Whose tasks: all, sandbox or an API base URL [default: the API in use]'
complete -c piapi -n '__fish_seen_subcommand_from tasks' -l limit -s n -x -d 'At most N tasks, newest first (1 to 1,000,000)'
complete -c piapi -n '__fish_seen_subcommand_from tasks' -l remote -d 'The accounts tasks from PiAPIs history (every page), each marked with its journal row or m'
complete -c piapi -n '__fish_seen_subcommand_from tasks' -l json -d 'Print the journals rows as a JSON array (input, status, output URLs, files)'
complete -c piapi -n '__fish_seen_subcommand_from tasks' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from tasks' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from sync' -l since -x -d 'Only tasks created this recently: 30m, 12h, 7d, 2w'
complete -c piapi -n '__fish_seen_subcommand_from sync' -l model -s m -x -a 'Qubico/flux1-schnell Qubico/flux1-dev Qubico/flux1-dev-advanced midjourney Qubico/image-toolkit gemini Qubico/qwen-image Qubico/z-image seedream Qubico/joycaption kling kling-turbo hailuo luma veo3 veo3.1 sora2 seedance Qubico/hunyuan Qubico/wanx Qubico/skyreels Qubico/video-toolkit Wan Qubico/framepack omni-human Qubico/hug-video music-u Qubico/ace-step Qubico/diffrhythm Qubico/mmaudio Qubico/tts suno music-s byteaudio Qubico/trellis Qubico/trellis2 Qubico/pixal3d' -d 'Only this family: mj, kling, flux...'
complete -c piapi -n '__fish_seen_subcommand_from sync' -l json -d 'What was done, as one JSON document'
complete -c piapi -n '__fish_seen_subcommand_from sync' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from show' -l json -d 'Print the journals row as JSON, with the APIs last task object under "task"'
complete -c piapi -n '__fish_seen_subcommand_from show' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from show' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from usage' -l since -x -d 'Only tasks created this recently: 30m, 12h, 7d, 2w'
complete -c piapi -n '__fish_seen_subcommand_from usage' -l by -x -d 'Group by model, task_type, day, status or world'
complete -c piapi -n '__fish_seen_subcommand_from usage' -l world -x -d 'Whose tasks: all, sandbox or an API base URL [default: the API in use]'
complete -c piapi -n '__fish_seen_subcommand_from usage' -l json -d 'Print the totals as a JSON array of {group, tasks, credits}'
complete -c piapi -n '__fish_seen_subcommand_from usage' -l jq -x -d 'Filter the JSON with a jq expression; strings print raw'
complete -c piapi -n '__fish_seen_subcommand_from usage' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from config' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from set-key' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from show' -l json -d 'Print the profile, the config files path and each settings value and source as JSON'
complete -c piapi -n '__fish_seen_subcommand_from show' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from path' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from set' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from unset' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from sandbox' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l host -x -d 'Address to listen on'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l port -x -d 'Port; 0 picks a free one'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l speed -x -d 'Scale task durations: 10 is ten times faster'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l concurrency -x -d 'Tasks running at once; more wait as staged'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l api-key -x -d 'Accept only this x-api-key (default: any non-empty key) [env: PIAPI_SANDBOX_KEY]'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l fail-rate -x -d 'Answer this share of requests with 500'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l rate-limit-rate -x -d 'Answer this share with 429 and Retry-After'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l drop-rate -x -d 'Close the connection mid-response for this share'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l latency -x -d 'Delay every answer'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l truncate-downloads -d 'Cut every output file short (Content-Length kept)'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l max-body -x -d 'Refuse larger request bodies with 413, unread (16M fits a 10 MB upload in base64)'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l timeout -x -d 'Close a connection idle or stalled (mid-request or mid-answer) this long'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l no-webhooks -d 'Do not deliver webhooks'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l quiet -s q -d 'Do not log requests'
complete -c piapi -n '__fish_seen_subcommand_from serve' -l help -s h -d 'Show this message and exit.'
complete -c piapi -n '__fish_seen_subcommand_from models' -a 'Qubico/flux1-schnell Qubico/flux1-dev Qubico/flux1-dev-advanced midjourney Qubico/image-toolkit gemini Qubico/qwen-image Qubico/z-image seedream Qubico/joycaption kling kling-turbo hailuo luma veo3 veo3.1 sora2 seedance Qubico/hunyuan Qubico/wanx Qubico/skyreels Qubico/video-toolkit Wan Qubico/framepack omni-human Qubico/hug-video music-u Qubico/ace-step Qubico/diffrhythm Qubico/mmaudio Qubico/tts suno music-s byteaudio Qubico/trellis Qubico/trellis2 Qubico/pixal3d'
